-- Token buckets by key: the engine's rate limiter, shared by every process on the database. A
-- bucket holds `tokens` as of `refilled_at`; it refills continuously at the rate its caller gives.
CREATE TABLE token_buckets (
    key         text PRIMARY KEY,
    tokens      double precision NOT NULL,
    refilled_at timestamptz      NOT NULL DEFAULT now()
);

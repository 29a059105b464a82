-- Memos are read and written per generation, so a replay's attempts never take a memo of an
-- earlier generation for one of theirs. Their uniqueness is the primary key's, per generation:
-- a memo left live by an earlier generation no longer blocks the current one's.
DROP INDEX memos_live;

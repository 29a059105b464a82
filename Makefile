# Slate's commands. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help
# Installs the pipeline's tools when missing (for `make test` the browser too), and sets DATABASE_URL
# for the recipe: the one given when it answers, else a project-local cluster.
WITH_DB = scripts/install-tools.sh $(TOOLS) || exit 1; url=$$(scripts/local-postgres.sh url) || exit 1; export DATABASE_URL=$$url;

.PHONY: help run test verify chaos smoke bench db db-stop

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

run: ## Start Slate (API, workers, scheduler) on http://127.0.0.1:8080 with a local PostgreSQL
	@$(WITH_DB) cargo run --release -p slate-api --bin slate -- serve

test: TOOLS = test
test: ## Run every test against a real PostgreSQL and a real S3 server (Garage), started locally when needed
	@$(WITH_DB) s3=$$(scripts/s3-server.sh env) || exit 1; eval "$$s3"; \
	  cargo build -p slate-api --bin slate && cargo test --workspace && scripts/schemathesis.sh

verify: ## Check the engine's protocol model exhaustively with spin (engine/model)
	@scripts/install-tools.sh verify && scripts/verify.sh

chaos: TOOLS = test
chaos: ## Fault injection for a minute, or SLATE_CHAOS_MINUTES: runs through kills, pauses, backend kills, restarts
	@scripts/install-tools.sh && cargo build -p slate-api --bin slate && \
	  SLATE_CHAOS=full cargo test -p slate-integration-tests --test chaos -- --nocapture

smoke: ## Make 30 videos (15 s and 30 s, every archetype, creativity 0/0.5/1) on a running Slate (SLATE_URL)
	@cargo run --release -p slate-api --bin slate -- smoke

bench: ## Measure the engine (against DBOS), the videos and the API; write docs/benchmarks.md
	@cargo build --release -p slate-integration-tests -p slate-api --bins
	@cargo build --release --manifest-path integration-tests/peers/dbos-rust/Cargo.toml
	@scripts/venv.sh dbos==3.4.0
	@$(WITH_DB) target/release/slate-bench --write docs/benchmarks.md

db: ## Print the DATABASE_URL of the local PostgreSQL, starting it when needed
	@scripts/local-postgres.sh url

db-stop: ## Stop the project-local PostgreSQL
	@scripts/local-postgres.sh stop

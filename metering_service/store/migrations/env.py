from drawdown.db.migrations import run_env

run_env()

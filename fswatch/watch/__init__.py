"""One watch: its loop (engine), what it says (reporter, status, metrics, history), fault injection, its runner."""

"""Operate: history, rollback, vacuum and the nightly maintenance of every lake table."""

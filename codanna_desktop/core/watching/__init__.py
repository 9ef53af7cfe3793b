"""Following the disk: watchdog observers and the change sets they deliver."""

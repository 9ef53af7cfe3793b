"""The desktop application (Qt). A thin face on codanna_desktop.core."""

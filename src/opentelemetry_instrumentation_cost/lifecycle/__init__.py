"""How the package lives and ends with the process: the last flush on every exit path."""

"""The server side: the one client that talks to Conductor, its transport, and the local server."""

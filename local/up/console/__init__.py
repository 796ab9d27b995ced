"""The console page of `make up`: its HTTP server, its pages, the graph, and what it reads from the database."""

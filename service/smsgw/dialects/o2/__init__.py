"""O2 Czech SMS Connector: the HTTP GET/POST `GP` interface and its codes."""

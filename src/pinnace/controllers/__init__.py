"""Built-in controllers. Each talks to the API through ``client``/``runtime`` only."""

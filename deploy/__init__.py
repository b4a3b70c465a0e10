"""edgesign deploy."""

"""edgesign train."""

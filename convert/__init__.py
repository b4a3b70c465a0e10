"""edgesign convert."""

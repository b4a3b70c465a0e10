"""edgesign device."""

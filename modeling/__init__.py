"""The FaciesCNN model: architecture, hub loading, weight conversion and inference."""

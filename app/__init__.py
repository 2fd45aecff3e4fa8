"""Heartsong, the product: songwriting (LLM), the studio (jobs and history) and the web page."""

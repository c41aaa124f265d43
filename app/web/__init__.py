"""Pages for people: the landing page and the API documentation (Swagger UI, ReDoc), served
with all their assets by the service itself, since government intranets (政务外网) have no
internet."""

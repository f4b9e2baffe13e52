"""A user's own service, shipped in the image instead of app/ (``--build-arg APP_DIR=myservice``)."""

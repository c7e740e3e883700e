"""The console at /console/: pages for the Model Registry, endpoints and their traffic, serving charts from the
metrics history, a drawing pad that tests a deployed model through :predict, and custom jobs with their logs.

The page is static files served from here (no CDN, nothing to build) and reads the same REST API the SDK uses,
same-origin; the few routes under /console/api/ serve what that API does not have.
"""

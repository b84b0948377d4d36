"""``seewhy serve``: the explanation page, its JSON API and the Grad-CAM human studies
(FastAPI on uvicorn; install with ``pip install 'seewhy[serve]'``)."""

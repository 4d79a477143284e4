from fastapi import APIRouter

from app.api.v1.endpoints import auth, example_job, tasks, users

# FastAPI answers 400 to a body it cannot even decode (not UTF-8, say), before any validation.
api_router = APIRouter(responses={400: {"description": "The request body could not be decoded"}})
api_router.include_router(auth.router)
api_router.include_router(users.router)
api_router.include_router(example_job.router)
api_router.include_router(tasks.router)

"""The hello apps of the cold-start benchmark: bare FastAPI (``app``), and the same behind cloudgate
(``create_protected``: ``protect()`` and one ``KeyCaller`` route), which isolates cloudgate's own start cost from
the example service's data stack."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


def create_protected() -> FastAPI:
    from cloudgate.service import KeyCaller, protect

    protected = FastAPI()

    @protected.get("/hello")
    async def hello_caller(caller: KeyCaller) -> dict[str, str | None]:
        return {"hello": caller.key_name}

    return protect(protected)

"""gantry_runner: serve Python functions from a Gantry host's queue (runner protocol v1).

    import gantry_runner as gr

    app = gr.App()

    @app.function("acme/echo", concurrency=4)
    def echo(input: EchoInput, ctx: gr.Context) -> EchoOutput:
        ctx.log("echoing")
        return EchoOutput(text=input.text)

    if __name__ == "__main__":
        app.run()
"""

__version__ = "0.1.0"

from .app import App, FunctionSpec  # noqa: E402
from .context import Context  # noqa: E402
from .types import Cancelled, File, FunctionError, Image, InputError  # noqa: E402

__all__ = ["App", "Context", "File", "Image", "InputError", "Cancelled", "FunctionError", "FunctionSpec",
           "__version__"]

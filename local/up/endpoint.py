"""The AWS-compatible endpoint of `make up`: moto's server on 127.0.0.1, in this process. moto keeps its backends
per process, so the endpoint serves the very state machines, bucket and executions the LocalStack here runs: what
the AWS CLI or boto3 does through it, the interpreter, the handlers and the console see."""

import io
import json
import logging
import socket
import threading
import uuid
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

HOST = "127.0.0.1"
TARGET_PREFIX = "AWSStepFunctions."


class StepFunctionsAsOnAws:
    """Two Step Functions requests answered as AWS answers them, where moto's interpreter differs:
    - StartExecution without a name: the execution is named with a UUID. moto would name it "None", and refuse
      a second unnamed start with another input as a clash with the first. One whose input is not JSON is
      refused as InvalidExecutionInput (moto answers with an error of no name).
    - GetExecutionHistory with reverseOrder: the events newest first. moto ignores reverseOrder (and pages
      nothing: every event comes in one answer, which clients take as the last page)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        action = environ.get("HTTP_X_AMZ_TARGET", "").removeprefix(TARGET_PREFIX)
        if action not in ("StartExecution", "GetExecutionHistory"):
            return self.app(environ, start_response)
        request = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}")
        if action == "StartExecution" and not request.get("name"):
            request["name"] = str(uuid.uuid4())
        if action == "StartExecution" and (refusal := input_refusal(request.get("input"))):
            return json_answer(
                start_response, "400 Bad Request", {"__type": "InvalidExecutionInput", "message": refusal}
            )
        body = json.dumps(request).encode()
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        if action == "StartExecution" or not request.get("reverseOrder"):
            return self.app(environ, start_response)

        answered: list[Any] = []
        answer = b"".join(self.app(environ, lambda status, headers, *rest: answered.extend([status, headers])))
        status, headers = answered
        if status.startswith("200"):
            history = json.loads(answer)
            history["events"].reverse()
            answer = json.dumps(history).encode()
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(answer)))])
        return [answer]


def input_refusal(execution_input: object) -> str | None:
    """Why Step Functions refuses an execution input, or None: it must be JSON."""
    try:
        json.loads(execution_input if isinstance(execution_input, str) else "{}")
    except json.JSONDecodeError as error:
        return f"Invalid State Machine Execution Input: '{error}'"
    return None


def json_answer(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
    encoded = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(encoded)))])
    return [encoded]


class Endpoint:
    """Binds its port when made (so a port in use fails before anything starts); serves once started."""

    def __init__(self, port: int) -> None:
        try:
            self._socket = socket.create_server((HOST, port))
        except OSError as error:
            raise SystemExit(
                f"--port {port}: cannot listen on {HOST}:{port} ({error.strerror}); choose another port"
            ) from None
        self._server = make_server(
            HOST,
            port,
            StepFunctionsAsOnAws(DomainDispatcherApplication(create_backend_app)),
            threaded=True,
            request_handler=MotoRequestHandler,
            fd=self._socket.fileno(),
        )
        self.url = f"http://{HOST}:{self._socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-endpoint", daemon=True)

    def start(self) -> None:
        # One line per request is werkzeug's default: not for a user's terminal.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._socket.close()

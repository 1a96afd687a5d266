"""Python client of the Operator API.

    from operator_sdk import Operator
    client = Operator()                      # OPERATOR_API_KEY / ~/.operator/config.json
    inst = client.instances.create("weather-desk")
    reply = client.chat.send("What instances do I have?")
    print(reply.chat_id, reply.text)
"""

from ._chat_stream import AsyncChatStream, ChatStream
from ._client import AsyncPaginator, Page, Paginator
from ._errors import *  # noqa: F401,F403
from ._errors import __all__ as _errors_all
from ._models import *  # noqa: F401,F403
from ._models import __all__ as _models_all
from ._operator import AsyncOperator, Operator
from ._streaming import (
    DataEvent,
    ErrorEvent,
    FinishEvent,
    FinishStepEvent,
    StartEvent,
    StartStepEvent,
    StreamEvent,
    TextDeltaEvent,
    TextEndEvent,
    TextStartEvent,
    ToolInputAvailableEvent,
    ToolOutputAvailableEvent,
    UnknownEvent,
)
from ._version import __version__

__all__ = [
    "Operator",
    "AsyncOperator",
    "Page",
    "Paginator",
    "AsyncPaginator",
    "ChatStream",
    "AsyncChatStream",
    *_errors_all,
    "StreamEvent",
    "StartEvent",
    "StartStepEvent",
    "TextStartEvent",
    "TextDeltaEvent",
    "TextEndEvent",
    "ToolInputAvailableEvent",
    "ToolOutputAvailableEvent",
    "FinishStepEvent",
    "FinishEvent",
    "ErrorEvent",
    "DataEvent",
    "UnknownEvent",
    "__version__",
    *_models_all,
]

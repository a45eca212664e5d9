"""
wecal: one async SDK for WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书) / Lark calendars.

Provider adapters turn WeCom schedules and DingTalk events into one
normalized :class:`Event`; one async paginator hides offset and token paging
behind ``async for``. Runs on asyncio and trio (anyio underneath).
"""

from ._client import ClientSettings as ClientSettings
from ._convert import from_dict as from_dict
from ._convert import to_dict as to_dict
from ._http import CallStats as CallStats
from ._ratelimit import RateLimitConfig as RateLimitConfig
from ._retry import RetryConfig as RetryConfig
from ._shared import MemoryState as MemoryState
from ._shared import SharedState as SharedState
from ._shared import StoredToken as StoredToken
from ._tokens import MemoryTokenStore as MemoryTokenStore
from ._tokens import TokenStore as TokenStore
from .errors import AuthenticationError as AuthenticationError
from .errors import ClientClosedError as ClientClosedError
from .errors import ConfigurationError as ConfigurationError
from .errors import InvalidRequestError as InvalidRequestError
from .errors import NotFoundError as NotFoundError
from .errors import OutcomeUnknownError as OutcomeUnknownError
from .errors import PermissionDeniedError as PermissionDeniedError
from .errors import ProviderError as ProviderError
from .errors import QuotaExceededError as QuotaExceededError
from .errors import RateLimitError as RateLimitError
from .errors import ResponseFormatError as ResponseFormatError
from .errors import TransportError as TransportError
from .errors import UnsupportedError as UnsupportedError
from .errors import ValidationError as ValidationError
from .errors import WecalError as WecalError
from .models import Attendee as Attendee
from .models import BusySlot as BusySlot
from .models import Calendar as Calendar
from .models import CalendarShare as CalendarShare
from .models import Event as Event
from .models import EventStatus as EventStatus
from .models import Person as Person
from .models import Provider as Provider
from .models import Recurrence as Recurrence
from .models import ResponseStatus as ResponseStatus
from .models import SharePermission as SharePermission
from .paging import Page as Page
from .paging import Paginator as Paginator
from .providers._common import CalendarProvider as CalendarProvider
from .providers.dingtalk import DingTalkClient as DingTalkClient
from .providers.dingtalk_legacy import DingTalkLegacyClient as DingTalkLegacyClient
from .providers.feishu import FeishuClient as FeishuClient
from .providers.feishu import FeishuUserAuth as FeishuUserAuth
from .providers.wecom import WeComClient as WeComClient
from .recurrence import expand as expand
from .sync import Change as Change
from .sync import ChangeKind as ChangeKind
from .sync import SyncStream as SyncStream

__version__ = "0.1.0.dev0"

__all__ = [
    "Attendee",
    "AuthenticationError",
    "BusySlot",
    "Calendar",
    "CalendarProvider",
    "CalendarShare",
    "CallStats",
    "Change",
    "ChangeKind",
    "ClientClosedError",
    "ClientSettings",
    "ConfigurationError",
    "DingTalkClient",
    "DingTalkLegacyClient",
    "Event",
    "EventStatus",
    "FeishuClient",
    "FeishuUserAuth",
    "InvalidRequestError",
    "MemoryState",
    "MemoryTokenStore",
    "NotFoundError",
    "OutcomeUnknownError",
    "Page",
    "Paginator",
    "PermissionDeniedError",
    "Person",
    "Provider",
    "ProviderError",
    "QuotaExceededError",
    "RateLimitConfig",
    "RateLimitError",
    "Recurrence",
    "ResponseFormatError",
    "ResponseStatus",
    "RetryConfig",
    "SharePermission",
    "SharedState",
    "StoredToken",
    "SyncStream",
    "TokenStore",
    "TransportError",
    "UnsupportedError",
    "ValidationError",
    "WeComClient",
    "WecalError",
    "__version__",
    "expand",
    "from_dict",
    "to_dict",
]

"""What plugin authors import: the plugin descriptor, input base model and task context."""

from qhana.errors import Reject, Retry
from qhana.sdk.context import PeriodicContext, SyncTaskContext, TaskContext, UploadedFile
from qhana.sdk.fields import field
from qhana.sdk.plugin import Handler, Periodic, Plugin, PluginInput, Step
from qhana.sdk.urls import FetchedFile
from qhana.wire import DataSpec, LinkSpec, PluginDependencySpec, PluginType

__all__ = [
    "DataSpec",
    "FetchedFile",
    "Handler",
    "LinkSpec",
    "Periodic",
    "PeriodicContext",
    "Plugin",
    "PluginDependencySpec",
    "PluginInput",
    "PluginType",
    "Reject",
    "Retry",
    "Step",
    "SyncTaskContext",
    "TaskContext",
    "UploadedFile",
    "field",
]

"""The Approve/Deny popup and the queue that shows one request at a time."""

from .dialog import ApprovalDialog, UserAnswer
from .queue import ApprovalQueue

__all__ = ["ApprovalDialog", "ApprovalQueue", "UserAnswer"]

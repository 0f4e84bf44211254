"""SQLAlchemy tables, one module per aggregate; imported here so metadata is complete."""

from minifb.kit.db import Base
from minifb.models.block import Block
from minifb.models.comment import Comment
from minifb.models.conversation import Conversation, ConversationKind, ConversationMember, Message
from minifb.models.credential import Credential
from minifb.models.dead_letter import DeadLetter
from minifb.models.follow import Follow
from minifb.models.friendship import FriendRequest, Friendship
from minifb.models.media import Media, MediaStatus
from minifb.models.notification import Notification, NotificationActor, NotificationType
from minifb.models.outbox import OutboxEvent, ProcessedEvent
from minifb.models.post import Post, Visibility
from minifb.models.reaction import IdempotencyKey, Reaction, ReactionType, TargetKind
from minifb.models.session import AuthSession, RefreshToken
from minifb.models.user import FriendRequestPolicy, MessagesPolicy, User
from minifb.models.worker_lease import WorkerLease

__all__ = [
    "AuthSession",
    "Base",
    "Block",
    "Comment",
    "Conversation",
    "ConversationKind",
    "ConversationMember",
    "Credential",
    "DeadLetter",
    "Follow",
    "FriendRequest",
    "FriendRequestPolicy",
    "Friendship",
    "IdempotencyKey",
    "Media",
    "MediaStatus",
    "Message",
    "MessagesPolicy",
    "Notification",
    "NotificationActor",
    "NotificationType",
    "OutboxEvent",
    "Post",
    "ProcessedEvent",
    "Reaction",
    "ReactionType",
    "RefreshToken",
    "TargetKind",
    "User",
    "Visibility",
    "WorkerLease",
]

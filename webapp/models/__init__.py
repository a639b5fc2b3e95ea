"""All ORM models; import from here."""
from webapp.models.alerts import (  # noqa: F401
    ALERT_STATUSES,
    OPEN_ALERT_STATUSES,
    Alert,
    AlertOccurrence,
    AuditEvent,
    EvidenceFile,
    OutboxMessage,
)
from webapp.models.assessment import (  # noqa: F401
    AssessmentAdjustment,
    AssessmentPeriod,
    AssessmentRules,
)
from webapp.models.camera_ops import (  # noqa: F401
    HEALTH_EVENT_KINDS,
    CameraClipNote,
    CameraHealthEvent,
    CameraRuntime,
    CheckpointPassage,
    PatrolFrame,
    PatrolTour,
    PatrolVisit,
)
from webapp.models.cameras import (  # noqa: F401
    CAMERA_KINDS,
    CAMERA_STATUSES,
    CalendarDay,
    Camera,
    Parcel,
    Preset,
)
from webapp.models.orders import (  # noqa: F401
    FEEDBACK_RESULTS,
    ORDER_KINDS,
    ROUND_REASONS,
    ExtensionRequest,
    Feedback,
    OrderParticipant,
    OrderRound,
    OrderSequence,
    WorkOrder,
)
from webapp.models.org import (  # noqa: F401
    ROLES,
    UNIT_KINDS,
    ApiToken,
    NotificationChannel,
    Township,
    Unit,
    User,
    WorkingGroup,
)
from webapp.models.security import (  # noqa: F401
    AuditHead,
    LoginThrottle,
    UserSession,
)
from webapp.models.printing import (  # noqa: F401
    PRINT_JOB_STATES,
    PrintJob,
)

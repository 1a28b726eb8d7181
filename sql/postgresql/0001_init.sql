-- CoUp schema 0001: the 30 tables of COUP.md §4.3, for PostgreSQL.
--
-- Keep column-for-column in step with sql/sqlite/0001_init.sql and coup/store/models.py;
-- tests/test_schema.py compares the three. Timestamps are naive UTC (§4.1), hence TIMESTAMP
-- without time zone and the UTC defaults. Enum CHECK lists are the tuples of coup/store/enums.py.
-- Index names are <table>_<columns>, as Peewee names them. Applied by coup/store/migrate.py,
-- which splits on ';' outside quotes and comments.

CREATE TABLE users (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    password_hash VARCHAR(100),
    name VARCHAR(50) NOT NULL,
    avatar VARCHAR(500),
    bio VARCHAR(200),
    provider VARCHAR(32) NOT NULL DEFAULT 'CREDENTIALS'
        CHECK (provider IN ('CREDENTIALS', 'GOOGLE', 'GITHUB')),
    status VARCHAR(32) NOT NULL DEFAULT 'ACTIVE'
        CHECK (status IN ('ACTIVE', 'SUSPENDED', 'DELETED')),
    suspended_until TIMESTAMP,
    suspend_reason TEXT,
    restricted_actions JSONB NOT NULL DEFAULT '[]'::jsonb,
    restricted_until TIMESTAMP,
    dashboard_widgets JSONB,
    last_login_at TIMESTAMP,
    last_active_at TIMESTAMP,
    deleted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE UNIQUE INDEX users_email ON users (email);
CREATE INDEX users_status ON users (status);
CREATE INDEX users_created_at ON users (created_at);
CREATE INDEX users_last_login_at ON users (last_login_at);
CREATE INDEX users_last_active_at ON users (last_active_at);

CREATE TABLE sessions (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash VARCHAR(64) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    last_seen_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoke_reason VARCHAR(32)
        CHECK (revoke_reason IN ('LOGOUT', 'USER_REVOKED', 'PASSWORD_CHANGED', 'SUSPENDED',
            'DELETED', 'ADMIN', 'LIMIT')),
    ip VARCHAR(45),
    user_agent VARCHAR(255)
);
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_user_id_revoked_at ON sessions (user_id, revoked_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE oauth_accounts (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider VARCHAR(32) NOT NULL CHECK (provider IN ('CREDENTIALS', 'GOOGLE', 'GITHUB')),
    provider_user_id VARCHAR(255) NOT NULL,
    email VARCHAR(255),
    email_verified BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    last_used_at TIMESTAMP
);
CREATE UNIQUE INDEX oauth_accounts_provider_provider_user_id
    ON oauth_accounts (provider, provider_user_id);
CREATE UNIQUE INDEX oauth_accounts_user_id_provider ON oauth_accounts (user_id, provider);

CREATE TABLE oauth_states (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    state_hash VARCHAR(64) NOT NULL,
    provider VARCHAR(32) NOT NULL CHECK (provider IN ('CREDENTIALS', 'GOOGLE', 'GITHUB')),
    code_verifier VARCHAR(128) NOT NULL,
    mode VARCHAR(8) NOT NULL,
    client VARCHAR(8) NOT NULL,
    return_to VARCHAR(500),
    link_user_id VARCHAR(32) REFERENCES users (id) ON DELETE CASCADE,
    result_user_id VARCHAR(32) REFERENCES users (id) ON DELETE CASCADE,
    exchange_code_hash VARCHAR(64),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE UNIQUE INDEX oauth_states_state_hash ON oauth_states (state_hash);
CREATE UNIQUE INDEX oauth_states_exchange_code_hash ON oauth_states (exchange_code_hash);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);
CREATE INDEX oauth_states_link_user_id ON oauth_states (link_user_id);
CREATE INDEX oauth_states_result_user_id ON oauth_states (result_user_id);

CREATE TABLE login_failures (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    ip VARCHAR(45) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX login_failures_email_ip_created_at ON login_failures (email, ip, created_at);
CREATE INDEX login_failures_ip_created_at ON login_failures (ip, created_at);

CREATE TABLE studies (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    owner_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    name VARCHAR(50) NOT NULL,
    emoji VARCHAR(16) NOT NULL DEFAULT '📚',
    description TEXT NOT NULL,
    category VARCHAR(30) NOT NULL,
    sub_category VARCHAR(30),
    tags JSONB NOT NULL DEFAULT '[]'::jsonb,
    max_members INTEGER NOT NULL DEFAULT 20,
    is_public BOOLEAN NOT NULL DEFAULT true,
    auto_approve BOOLEAN NOT NULL DEFAULT true,
    is_recruiting BOOLEAN NOT NULL DEFAULT true,
    rating DOUBLE PRECISION NOT NULL DEFAULT 0,
    review_count INTEGER NOT NULL DEFAULT 0,
    status VARCHAR(32) NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'CLOSED', 'DELETED')),
    is_hidden BOOLEAN NOT NULL DEFAULT false,
    hidden_at TIMESTAMP,
    hidden_reason TEXT,
    closed_at TIMESTAMP,
    closed_reason TEXT,
    deleted_at TIMESTAMP,
    invite_code VARCHAR(16),
    invite_code_expires_at TIMESTAMP,
    invite_code_max_uses INTEGER,
    invite_code_used_count INTEGER NOT NULL DEFAULT 0,
    invite_code_created_at TIMESTAMP,
    invite_code_created_by VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL,
    storage_used BIGINT NOT NULL DEFAULT 0,
    last_seq BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE UNIQUE INDEX studies_invite_code ON studies (invite_code);
CREATE INDEX studies_category ON studies (category);
CREATE INDEX studies_is_public_is_recruiting ON studies (is_public, is_recruiting);
CREATE INDEX studies_owner_id ON studies (owner_id);
CREATE INDEX studies_status_is_hidden_created_at ON studies (status, is_hidden, created_at);
CREATE INDEX studies_rating ON studies (rating);
CREATE INDEX studies_invite_code_created_by ON studies (invite_code_created_by);

CREATE TABLE study_members (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    study_id VARCHAR(32) NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role VARCHAR(32) NOT NULL DEFAULT 'MEMBER' CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
    status VARCHAR(32) NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'ACTIVE', 'KICKED', 'LEFT')),
    introduction TEXT,
    motivation VARCHAR(32)
        CHECK (motivation IN ('JOB_PREP', 'SKILL_UP', 'NETWORKING', 'CERTIFICATION', 'OTHER')),
    level VARCHAR(32) CHECK (level IN ('INTRO', 'BEGINNER', 'INTERMEDIATE', 'ADVANCED')),
    applied_at TIMESTAMP,
    joined_at TIMESTAMP,
    approved_at TIMESTAMP,
    approved_by VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL,
    left_at TIMESTAMP,
    kicked_at TIMESTAMP,
    kicked_by VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL,
    kick_reason VARCHAR(200),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE UNIQUE INDEX study_members_study_id_user_id ON study_members (study_id, user_id);
CREATE INDEX study_members_user_id_status ON study_members (user_id, status);
CREATE INDEX study_members_study_id_status_role ON study_members (study_id, status, role);
CREATE INDEX study_members_approved_by ON study_members (approved_by);
CREATE INDEX study_members_kicked_by ON study_members (kicked_by);

CREATE TABLE study_events (
    id BIGSERIAL NOT NULL PRIMARY KEY,
    study_id VARCHAR(32) NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    type VARCHAR(40) NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE UNIQUE INDEX study_events_study_id_seq ON study_events (study_id, seq);
CREATE INDEX study_events_created_at ON study_events (created_at);

CREATE TABLE study_read_cursors (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    study_id VARCHAR(32) NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_read_seq BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE UNIQUE INDEX study_read_cursors_study_id_user_id ON study_read_cursors (study_id, user_id);
CREATE INDEX study_read_cursors_user_id ON study_read_cursors (user_id);

CREATE TABLE files (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    study_id VARCHAR(32) NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    uploader_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    name VARCHAR(255) NOT NULL,
    size BIGINT NOT NULL,
    type VARCHAR(127) NOT NULL,
    category VARCHAR(32) NOT NULL
        CHECK (category IN ('IMAGE', 'DOCUMENT', 'ARCHIVE', 'VIDEO', 'AUDIO', 'CODE')),
    folder VARCHAR(100),
    storage_key VARCHAR(300) NOT NULL,
    downloads INTEGER NOT NULL DEFAULT 0,
    last_downloaded_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX files_study_id_folder_created_at ON files (study_id, folder, created_at);
CREATE INDEX files_study_id_category ON files (study_id, category);
CREATE INDEX files_uploader_id ON files (uploader_id);

CREATE TABLE messages (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    study_id VARCHAR(32) NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    client_id VARCHAR(64) NOT NULL,
    seq BIGINT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    file_id VARCHAR(32) REFERENCES files (id) ON DELETE SET NULL,
    edited_at TIMESTAMP,
    deleted_at TIMESTAMP,
    deleted_by VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE UNIQUE INDEX messages_study_id_user_id_client_id ON messages (study_id, user_id, client_id);
CREATE UNIQUE INDEX messages_study_id_seq ON messages (study_id, seq);
CREATE INDEX messages_study_id_created_at ON messages (study_id, created_at);
CREATE INDEX messages_user_id_created_at ON messages (user_id, created_at);
CREATE INDEX messages_file_id ON messages (file_id);
CREATE INDEX messages_deleted_by ON messages (deleted_by);

CREATE TABLE notices (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    study_id VARCHAR(32) NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    author_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    title VARCHAR(100) NOT NULL,
    content TEXT NOT NULL,
    is_pinned BOOLEAN NOT NULL DEFAULT false,
    pinned_at TIMESTAMP,
    is_important BOOLEAN NOT NULL DEFAULT false,
    views INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX notices_study_id_is_pinned_created_at ON notices (study_id, is_pinned, created_at);
CREATE INDEX notices_author_id ON notices (author_id);

CREATE TABLE notice_views (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    notice_id VARCHAR(32) NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    viewed_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE UNIQUE INDEX notice_views_notice_id_user_id ON notice_views (notice_id, user_id);
CREATE INDEX notice_views_user_id ON notice_views (user_id);

CREATE TABLE notice_files (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    notice_id VARCHAR(32) NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    file_id VARCHAR(32) NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE UNIQUE INDEX notice_files_notice_id_file_id ON notice_files (notice_id, file_id);
CREATE INDEX notice_files_file_id ON notice_files (file_id);

CREATE TABLE file_download_logs (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    file_id VARCHAR(32) NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    study_id VARCHAR(32) NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    ip VARCHAR(45),
    user_agent VARCHAR(255),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX file_download_logs_file_id_created_at ON file_download_logs (file_id, created_at);
CREATE INDEX file_download_logs_study_id_created_at ON file_download_logs (study_id, created_at);
CREATE INDEX file_download_logs_user_id ON file_download_logs (user_id);

CREATE TABLE calendar_events (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    study_id VARCHAR(32) NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    created_by VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    title VARCHAR(100) NOT NULL,
    description TEXT,
    date DATE NOT NULL,
    start_time VARCHAR(5) NOT NULL,
    end_time VARCHAR(5) NOT NULL,
    location VARCHAR(200),
    color VARCHAR(7) NOT NULL DEFAULT '#6366F1',
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX calendar_events_study_id_date ON calendar_events (study_id, date);
CREATE INDEX calendar_events_created_by ON calendar_events (created_by);

CREATE TABLE personal_tasks (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    study_id VARCHAR(32) REFERENCES studies (id) ON DELETE SET NULL,
    title VARCHAR(100) NOT NULL,
    description TEXT,
    status VARCHAR(32) NOT NULL DEFAULT 'TODO'
        CHECK (status IN ('TODO', 'IN_PROGRESS', 'REVIEW', 'DONE', 'CANCELLED')),
    priority VARCHAR(32) NOT NULL DEFAULT 'MEDIUM'
        CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
    due_date DATE,
    completed BOOLEAN NOT NULL DEFAULT false,
    completed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX personal_tasks_user_id_completed_due_date
    ON personal_tasks (user_id, completed, due_date);
CREATE INDEX personal_tasks_study_id_status ON personal_tasks (study_id, status);

CREATE TABLE study_tasks (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    study_id VARCHAR(32) NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    created_by VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    title VARCHAR(100) NOT NULL,
    description TEXT,
    status VARCHAR(32) NOT NULL DEFAULT 'TODO'
        CHECK (status IN ('TODO', 'IN_PROGRESS', 'REVIEW', 'DONE', 'CANCELLED')),
    priority VARCHAR(32) NOT NULL DEFAULT 'MEDIUM'
        CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
    due_date DATE,
    completed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX study_tasks_study_id_status ON study_tasks (study_id, status);
CREATE INDEX study_tasks_study_id_due_date ON study_tasks (study_id, due_date);
CREATE INDEX study_tasks_created_by ON study_tasks (created_by);

CREATE TABLE study_task_assignees (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    task_id VARCHAR(32) NOT NULL REFERENCES study_tasks (id) ON DELETE CASCADE,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    assigned_by VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL,
    assigned_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE UNIQUE INDEX study_task_assignees_task_id_user_id
    ON study_task_assignees (task_id, user_id);
CREATE INDEX study_task_assignees_user_id ON study_task_assignees (user_id);
CREATE INDEX study_task_assignees_assigned_by ON study_task_assignees (assigned_by);

CREATE TABLE attendance (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    study_id VARCHAR(32) NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    date DATE NOT NULL,
    checked_in_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    streak INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX attendance_study_id_user_id_date ON attendance (study_id, user_id, date);
CREATE INDEX attendance_study_id_date ON attendance (study_id, date);
CREATE INDEX attendance_user_id_date ON attendance (user_id, date);

CREATE TABLE notifications (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type VARCHAR(32) NOT NULL
        CHECK (type IN ('JOIN_REQUEST', 'JOIN_APPROVED', 'JOIN_REJECTED', 'MEMBER', 'KICK',
            'ROLE_CHANGE', 'NOTICE', 'FILE', 'EVENT', 'TASK', 'CHAT', 'OWNERSHIP_TRANSFERRED',
            'ADMIN')),
    study_id VARCHAR(32),
    study_name VARCHAR(50),
    study_emoji VARCHAR(16),
    message VARCHAR(500) NOT NULL,
    data JSONB,
    is_read BOOLEAN NOT NULL DEFAULT false,
    read_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX notifications_user_id_is_read_created_at
    ON notifications (user_id, is_read, created_at);
CREATE INDEX notifications_user_id_type_study_id_is_read
    ON notifications (user_id, type, study_id, is_read);
CREATE UNIQUE INDEX notifications_user_id_study_id_unread_chat ON notifications (user_id, study_id)
    WHERE type = 'CHAT' AND NOT is_read;

CREATE TABLE reports (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    reporter_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    target_type VARCHAR(32) NOT NULL CHECK (target_type IN ('USER', 'STUDY', 'MESSAGE')),
    target_id VARCHAR(32) NOT NULL,
    target_name VARCHAR(100),
    type VARCHAR(32) NOT NULL
        CHECK (type IN ('SPAM', 'HARASSMENT', 'INAPPROPRIATE', 'COPYRIGHT', 'OTHER')),
    reason TEXT NOT NULL,
    evidence JSONB,
    status VARCHAR(32) NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'IN_PROGRESS', 'RESOLVED', 'REJECTED')),
    priority VARCHAR(32) NOT NULL DEFAULT 'MEDIUM'
        CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
    assigned_to VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL,
    assigned_at TIMESTAMP,
    processed_by VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL,
    processed_at TIMESTAMP,
    resolution TEXT,
    linked_action VARCHAR(20),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX reports_status_priority_created_at ON reports (status, priority, created_at);
CREATE INDEX reports_target_type_target_id ON reports (target_type, target_id);
CREATE INDEX reports_reporter_id_created_at ON reports (reporter_id, created_at);
CREATE INDEX reports_assigned_to_status ON reports (assigned_to, status);
CREATE INDEX reports_processed_by ON reports (processed_by);

CREATE TABLE warnings (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    admin_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    reason TEXT NOT NULL,
    severity VARCHAR(32) NOT NULL DEFAULT 'NORMAL'
        CHECK (severity IN ('MINOR', 'NORMAL', 'SERIOUS', 'CRITICAL')),
    related_content VARCHAR(100),
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX warnings_user_id_created_at ON warnings (user_id, created_at);
CREATE INDEX warnings_severity_created_at ON warnings (severity, created_at);
CREATE INDEX warnings_user_id_expires_at ON warnings (user_id, expires_at);
CREATE INDEX warnings_admin_id ON warnings (admin_id);

CREATE TABLE sanctions (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    admin_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    type VARCHAR(32) NOT NULL
        CHECK (type IN ('SUSPENSION', 'RESTRICTION', 'WARNING', 'CHAT_BAN', 'STUDY_CREATE_BAN',
            'FILE_UPLOAD_BAN', 'PERMANENT_BAN')),
    reason TEXT NOT NULL,
    duration VARCHAR(10),
    expires_at TIMESTAMP,
    related_report_id VARCHAR(32) REFERENCES reports (id) ON DELETE SET NULL,
    metadata JSONB,
    is_active BOOLEAN NOT NULL DEFAULT true,
    unsuspended_by VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL,
    unsuspend_reason TEXT,
    unsuspended_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX sanctions_user_id_type_created_at ON sanctions (user_id, type, created_at);
CREATE INDEX sanctions_user_id_is_active_expires_at ON sanctions (user_id, is_active, expires_at);
CREATE INDEX sanctions_is_active_expires_at ON sanctions (is_active, expires_at);
CREATE INDEX sanctions_admin_id ON sanctions (admin_id);
CREATE INDEX sanctions_related_report_id ON sanctions (related_report_id);
CREATE INDEX sanctions_unsuspended_by ON sanctions (unsuspended_by);

CREATE TABLE admin_logs (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    admin_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    action VARCHAR(32) NOT NULL
        CHECK (action IN ('USER_VIEW', 'USER_SEARCH', 'USER_WARN', 'USER_SUSPEND',
            'USER_UNSUSPEND', 'USER_RESTRICT', 'USER_DELETE', 'USER_RESTORE', 'USER_UPDATE',
            'SANCTION_REVOKE', 'STUDY_VIEW', 'STUDY_HIDE', 'STUDY_UNHIDE', 'STUDY_CLOSE',
            'STUDY_REOPEN', 'STUDY_DELETE', 'STUDY_RECOMMEND', 'REPORT_VIEW', 'REPORT_ASSIGN',
            'REPORT_RESOLVE', 'REPORT_REJECT', 'REPORT_HOLD', 'CONTENT_DELETE', 'CONTENT_RESTORE',
            'SETTINGS_VIEW', 'SETTINGS_UPDATE', 'SETTINGS_CACHE_CLEAR', 'ANALYTICS_VIEW',
            'ANALYTICS_EXPORT', 'AUDIT_VIEW', 'AUDIT_EXPORT', 'ADMIN_ROLE_GRANT',
            'ADMIN_ROLE_REVOKE')),
    target_type VARCHAR(20),
    target_id VARCHAR(32),
    before JSONB,
    after JSONB,
    metadata JSONB,
    reason TEXT,
    ip VARCHAR(45),
    user_agent VARCHAR(255),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX admin_logs_admin_id_created_at ON admin_logs (admin_id, created_at);
CREATE INDEX admin_logs_action_created_at ON admin_logs (action, created_at);
CREATE INDEX admin_logs_target_type_target_id ON admin_logs (target_type, target_id);

CREATE TABLE admin_roles (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role VARCHAR(32) NOT NULL CHECK (role IN ('VIEWER', 'MODERATOR', 'ADMIN', 'SUPER_ADMIN')),
    granted_by VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL,
    granted_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    expires_at TIMESTAMP
);
CREATE UNIQUE INDEX admin_roles_user_id ON admin_roles (user_id);
CREATE INDEX admin_roles_role ON admin_roles (role);
CREATE INDEX admin_roles_granted_by ON admin_roles (granted_by);

CREATE TABLE groups (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    name VARCHAR(50) NOT NULL,
    description TEXT,
    category VARCHAR(32) NOT NULL DEFAULT 'ETC'
        CHECK (category IN ('STUDY', 'PROJECT', 'HOBBY', 'NETWORK', 'SOCIAL', 'ETC')),
    image_url VARCHAR(500),
    tags JSONB NOT NULL DEFAULT '[]'::jsonb,
    is_public BOOLEAN NOT NULL DEFAULT true,
    max_members INTEGER NOT NULL DEFAULT 50,
    is_recruiting BOOLEAN NOT NULL DEFAULT true,
    created_by VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    deleted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX groups_category ON groups (category);
CREATE INDEX groups_is_public_is_recruiting ON groups (is_public, is_recruiting);
CREATE INDEX groups_created_by ON groups (created_by);
CREATE INDEX groups_deleted_at ON groups (deleted_at);

CREATE TABLE group_members (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    group_id VARCHAR(32) NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role VARCHAR(32) NOT NULL DEFAULT 'MEMBER' CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
    status VARCHAR(32) NOT NULL DEFAULT 'ACTIVE'
        CHECK (status IN ('ACTIVE', 'LEFT', 'KICKED', 'PENDING')),
    joined_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    left_at TIMESTAMP
);
CREATE UNIQUE INDEX group_members_group_id_user_id ON group_members (group_id, user_id);
CREATE INDEX group_members_user_id ON group_members (user_id);
CREATE INDEX group_members_group_id_status ON group_members (group_id, status);

CREATE TABLE group_invites (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    group_id VARCHAR(32) NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    invited_by_id VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    invited_user_id VARCHAR(32) REFERENCES users (id) ON DELETE CASCADE,
    email VARCHAR(255),
    code VARCHAR(12) NOT NULL,
    status VARCHAR(32) NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'ACCEPTED', 'EXPIRED', 'CANCELLED')),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    expires_at TIMESTAMP,
    used_at TIMESTAMP,
    used_by_id VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX group_invites_code ON group_invites (code);
CREATE INDEX group_invites_group_id_status ON group_invites (group_id, status);
CREATE INDEX group_invites_invited_by_id ON group_invites (invited_by_id);
CREATE INDEX group_invites_invited_user_id ON group_invites (invited_user_id);
CREATE INDEX group_invites_used_by_id ON group_invites (used_by_id);

CREATE TABLE system_settings (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    category VARCHAR(20) NOT NULL,
    key VARCHAR(64) NOT NULL,
    value TEXT NOT NULL,
    type VARCHAR(32) NOT NULL CHECK (type IN ('STRING', 'NUMBER', 'BOOLEAN', 'JSON')),
    description VARCHAR(255),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_by VARCHAR(32) REFERENCES users (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX system_settings_key ON system_settings (key);
CREATE INDEX system_settings_category ON system_settings (category);
CREATE INDEX system_settings_updated_by ON system_settings (updated_by);

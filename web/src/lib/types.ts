// Shapes of COUP.md §6 used by more than one feature.
export interface UserSummary { id: string; name: string; avatar: string | null }
export interface Me extends UserSummary {
  email: string; bio: string | null; provider: string; has_password: boolean; status: string;
}
export type MemberRole = "OWNER" | "ADMIN" | "MEMBER";
export type MemberStatus = "PENDING" | "ACTIVE" | "KICKED" | "LEFT";
export interface StudySummary {
  id: string; name: string; emoji: string; description: string; category: string;
  sub_category: string | null; tags: string[]; max_members: number; current_members: number;
  is_public: boolean; auto_approve: boolean; is_recruiting: boolean;
  recruiting_state: "recruiting" | "closed"; status: string; owner: UserSummary; created_at: string;
  my_status: MemberStatus | null;
}
export interface Member {
  user_id: string; user: UserSummary; role: MemberRole; status: MemberStatus;
  joined_at: string | null; approved_at: string | null;
}
export interface Study extends StudySummary {
  my_role: MemberRole | null; my_joined_at: string | null; members: Member[];
  pending_requests: number | null; updated_at: string;
}
export interface FileRef { id: string; name: string; url: string; type: string; size: number }
export interface Message {
  id: string; client_id: string; study_id: string; seq: number; user: UserSummary; content: string;
  file: FileRef | null; created_at: string; updated_at: string; edited: boolean;
}
export interface Notification {
  id: string; type: string; message: string; study_id: string | null; study_name: string | null;
  study_emoji: string | null; data: Record<string, unknown>; is_read: boolean; created_at: string;
}
export interface PublicConfig {
  site_name: string; allow_signup: boolean; allow_study_creation: boolean; max_study_members: number;
  oauth_providers: ("google" | "github")[]; time_zone: string; language: "ko" | "en";
  chat_rate: { messages: number; window_seconds: number };
}

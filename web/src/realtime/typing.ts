// Who is typing in each study. PROTOCOL §5: a `true` expires after 6 s unless renewed.
import type { RealtimeUser } from "./types";

export const TYPING_EXPIRY_MS = 6000;
const NOBODY: RealtimeUser[] = [];

export class TypingTracker {
  private readonly byStudy = new Map<string, Map<string, { user: RealtimeUser; timer: ReturnType<typeof setTimeout> }>>();
  private readonly lists = new Map<string, RealtimeUser[]>();
  private readonly onChange: (studyId: string, users: RealtimeUser[]) => void;

  constructor(onChange: (studyId: string, users: RealtimeUser[]) => void) {
    this.onChange = onChange;
  }

  update(studyId: string, user: RealtimeUser, isTyping: boolean): void {
    let study = this.byStudy.get(studyId);
    const current = study?.get(user.id);
    if (current) clearTimeout(current.timer);
    if (!isTyping) {
      if (!current) return;
      study!.delete(user.id);
    } else {
      if (!study) this.byStudy.set(studyId, (study = new Map()));
      const timer = setTimeout(() => this.update(studyId, user, false), TYPING_EXPIRY_MS);
      study.set(user.id, { user, timer });
      if (current) return; // renewed: nothing visible changed
    }
    this.lists.set(studyId, [...study!.values()].map((entry) => entry.user));
    this.onChange(studyId, this.users(studyId));
  }

  /** The same array until the set of typists changes. */
  users(studyId: string): RealtimeUser[] {
    return this.lists.get(studyId) ?? NOBODY;
  }

  clear(): void {
    for (const [studyId, study] of this.byStudy) {
      for (const entry of study.values()) clearTimeout(entry.timer);
      if (study.size) this.onChange(studyId, NOBODY);
    }
    this.byStudy.clear();
    this.lists.clear();
  }
}

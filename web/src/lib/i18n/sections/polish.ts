// Review fixes (issue 12 polish): the tab that the server disconnected, report buttons.
export const polishKo = {
  "polish.disconnected.title.tooManyTabs": "이 탭의 실시간 연결이 끊어졌습니다",
  "polish.disconnected.body.tooManyTabs": "CoUp을 연 탭이 너무 많아 가장 오래된 이 탭의 연결을 닫았습니다. 로그인은 그대로 유지됩니다. 다른 탭을 닫고 다시 연결해 주세요.",
  "polish.disconnected.title.disconnected": "실시간 연결이 끊어졌습니다",
  "polish.disconnected.body.disconnected": "서버가 이 탭의 연결을 닫았습니다. 로그인은 그대로 유지됩니다. 다시 연결하면 새 메시지와 알림을 받을 수 있습니다.",
  "polish.reconnect": "다시 연결",
  "polish.later": "나중에",
  "polish.reportStudy": "스터디 신고",
  "polish.reportMessage": "신고",
} as const;

export const polishEn: Record<keyof typeof polishKo, string> = {
  "polish.disconnected.title.tooManyTabs": "This tab was disconnected",
  "polish.disconnected.body.tooManyTabs": "CoUp is open in too many tabs, so the oldest one, this tab, was disconnected. You are still signed in. Close some other tabs and reconnect.",
  "polish.disconnected.title.disconnected": "Live updates stopped",
  "polish.disconnected.body.disconnected": "The server closed this tab's connection. You are still signed in. Reconnect to get new messages and notifications.",
  "polish.reconnect": "Reconnect",
  "polish.later": "Not now",
  "polish.reportStudy": "Report study",
  "polish.reportMessage": "Report",
};

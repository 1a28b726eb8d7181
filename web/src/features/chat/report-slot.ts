// The app's "report this message" control, if it gives one (features/reports, composed in
// app/App.tsx): a context, so the room page between the app and the chat needs no prop for it.
import { createContext, useContext, type ReactNode } from "react";
import type { Message } from "../../lib/types";

export type MessageReportAction = (message: Message) => ReactNode;

const MessageReportContext = createContext<MessageReportAction | null>(null);

export const MessageReportProvider = MessageReportContext.Provider;

export function useMessageReportAction(): MessageReportAction | null {
  return useContext(MessageReportContext);
}

// What other parts of the app may use: the report dialog and its button, and the my-reports page.
export { MyReportsPage } from "./MyReportsPage";
export { ReportButton, ReportDialog, type ReportTarget } from "./ReportDialog";

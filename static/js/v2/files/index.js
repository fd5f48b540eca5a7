// Version 2 file transfers for the chat (issue 14): one entry point for the bundle.
export * from "./agewriter.js";
export * from "./resume.js";

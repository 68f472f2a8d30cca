//! Post-round output parsers for the agent CLIs (claude stream-json, gemini,
//! codex, codewhale, kimi, pi): usage, transient errors with their reset time,
//! auth errors, repetitive tool calls. Pure functions over the log's tail.

// Package mobilesdk is the phone side of JoinedUp: the library the Android
// and iOS apps embed through gomobile, and the field simulator's engine.
//
// It is a thin face over syncengine. Everything that decides how edits merge
// lives in the engine; this package only keeps the engine's records, outbox
// and cursor in an encrypted SQLite file, speaks the sync protocol, and turns
// records into JSON for the UI.
//
// Exported API uses only types gomobile can bind: string, []byte, bool,
// int64, float64, error, structs of those and callback interfaces. Records
// cross the boundary as the JSON of syncengine.View.
package mobilesdk

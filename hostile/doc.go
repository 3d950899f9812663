// Package hostile is the suite of hostile and broken inputs. Each case
// drives the real binaries on a throwaway installation and puts a hostile
// input beside good input. It checks that the hostile input gets a clear
// error naming its file, line, field or packet, and that the good input
// went through exactly once with nothing else changed:
//
//   - batches (roamload): truncated tar, flipped bytes in a record and in
//     a tar header, a 10 MB line in a member, a reused sequence number, a
//     manifest without tar and a tar without manifest, a tar that is a
//     named pipe or a symbolic link, an unreadable manifest or tar;
//   - RADIUS (roamcollect listen): wrong or altered authenticator,
//     truncated attributes, Length fields that lie, a runt datagram, an
//     integer of the wrong size, an Access-Request on the accounting
//     port, an unknown client; control characters and invalid UTF-8 in
//     User-Name, carried unchanged through every stage;
//   - detail files (roamcollect import): binary garbage, a 10 MB line,
//     an unreadable file; spool files push or sweep cannot use;
//   - configuration: a realm of two partners or twice in one, a
//     duplicated partner id, NAS or key, negative rates, increments and
//     fees, tied tariffs;
//   - a full disk under the spool (import, push, a running listener), the
//     database, the archive, the reports and the publish folder;
//   - kill -9 of every stage at random moments, then a re-run: the same
//     sessions, reports and published files as a pipeline never killed.
//
// docs/hostile.md lists every case with the error it gets.
package hostile

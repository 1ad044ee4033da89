"""Avatars (issue 12 item 14): a magic-byte polyglot is stored stripped to the
image, served so that no browser treats it as a document, and hidden when its
owner is deactivated."""
import os
import struct
import unittest
import zlib

import lmdb

from accounts import account
from harness import POSTGRES, Server, ServerTest, bearer

HTML = b"<html><body><script>alert(document.domain)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width=2, height=2, extra=b""):
    raw = b"".join(b"\x00" + b"\x7f" * width for _ in range(height))  # grey, filter 0
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png_pixels(data):
    """Walks a PNG as a decoder would (CRCs, IHDR, IDAT inflated to the
    expected size); returns (chunk types, width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, kinds = 8, b"", []
    while pos < len(data):
        n, = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0], kind
        kinds.append(kind)
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        if kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert pos == len(data) and kinds[-1] == b"IEND"
    assert len(zlib.decompress(idat)) == h * (1 + w)
    return kinds, w, h


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    if n < 65536:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    return bytes([major << 5 | 26]) + struct.pack(">I", n)


def avatar_record(content_type, data, updated_at=1):
    """store::Avatar as the store encodes it: version 1, a CBOR map."""
    text = lambda t: cbor_head(3, len(t)) + t
    return (b"\x01" + cbor_head(5, 3) + text(b"b") + cbor_head(2, len(data)) + data
            + text(b"ct") + text(content_type.encode()) + text(b"ua") + cbor_head(0, updated_at))


def put_avatar(server, user_id, content_type, data):
    """Writes an avatar straight into the (stopped) server's store, around the
    upload check: the LMDB record (version 1, a CBOR map), or the row."""
    if POSTGRES:
        server.sql("INSERT INTO avatars (user_id, content_type, bytes, updated_at) VALUES ('%s', '%s', '\\x%s', 1) "
                   "ON CONFLICT (user_id) DO UPDATE SET content_type = EXCLUDED.content_type, "
                   "bytes = EXCLUDED.bytes" % (user_id, content_type, data.hex()))
        return
    env = lmdb.open(server.store, max_dbs=32, map_size=1 << 30)
    with env.begin(write=True, db=env.open_db(b"avatars")) as txn:
        txn.put(user_id.encode(), avatar_record(content_type, data))
    env.close()


class Avatars(ServerTest, unittest.TestCase):
    def upload(self, token, data):
        return self.s.request("PUT", "/auth/me/avatar", body=data,
                              headers=dict(bearer(token), **{"Content-Type": "image/png"}))

    def test_a_png_html_polyglot_is_stored_as_the_image_only(self):
        me = self.s.register()
        poly = png(extra=chunk(b"tEXt", b"Comment\x00" + HTML) + chunk(b"svGz", SVG)) + HTML + SVG
        r = self.upload(me["access_token"], poly)
        self.assertEqual(r.status, 200, r)
        got = self.s.request("GET", "/avatars/" + me["user"]["id"])
        self.assertEqual(got.status, 200, got)
        self.assertNotIn(b"<html", got.body)
        self.assertNotIn(b"<script", got.body)
        self.assertNotIn(b"<svg", got.body)
        kinds, w, h = png_pixels(got.body)
        self.assertEqual((kinds, w, h), ([b"IHDR", b"IDAT", b"IEND"], 2, 2))
        self.assertEqual(got.header("Content-Type"), "image/png")
        self.assertIn("sandbox", got.header("Content-Security-Policy") or "")
        self.assertEqual(got.header("Content-Disposition"), 'inline; filename="avatar.png"')
        self.assertEqual(got.header("X-Content-Type-Options"), "nosniff")

    def test_a_jpeg_polyglot_loses_comments_metadata_and_its_tail(self):
        me = self.s.register()
        seg = lambda m, d: b"\xff" + bytes([m]) + struct.pack(">H", len(d) + 2) + d
        jpeg = (b"\xff\xd8" + seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00") + seg(0xFE, HTML)
                + seg(0xE1, b"Exif\x00\x00" + HTML) + seg(0xDB, b"\x00" + b"\x01" * 64)
                + seg(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00") + seg(0xC4, b"\x00" * 20)
                + seg(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\x12\xff\x00\x34" + b"\xff\xd9" + HTML)
        self.assertEqual(self.upload(me["access_token"], jpeg).status, 200)
        got = self.s.request("GET", "/avatars/" + me["user"]["id"])
        self.assertNotIn(b"<html", got.body)
        self.assertTrue(got.body.endswith(b"\xff\xd9"))
        self.assertEqual(got.header("Content-Disposition"), 'inline; filename="avatar.jpg"')

    def test_what_is_not_an_image_is_refused(self):
        me = self.s.register()
        r = self.upload(me["access_token"], SVG)
        self.assertEqual((r.status, r.json()["error"]), (415, "unsupported_media_type"))
        r = self.upload(me["access_token"], b"\x89PNG\r\n\x1a\n" + HTML)
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))
        broken = bytearray(png())
        broken[45] ^= 0xFF  # inside the IDAT data: its CRC no longer matches
        self.assertEqual(self.upload(me["access_token"], bytes(broken)).status, 400)
        self.assertEqual(self.s.request("GET", "/avatars/" + me["user"]["id"]).status, 404)

    def test_a_deactivated_users_avatar_is_hidden(self):
        admin = account(self.s, "admin")
        me = self.s.register()
        self.assertEqual(self.upload(me["access_token"], png()).status, 200)
        self.assertEqual(self.s.request("GET", "/avatars/" + me["user"]["id"]).status, 200)
        r = self.s.request("POST", "/admin/users/%s/deactivate" % me["user"]["id"], headers=bearer(admin["token"]))
        self.assertEqual(r.status, 200, r)
        r = self.s.request("GET", "/avatars/" + me["user"]["id"])
        self.assertEqual((r.status, r.json()["error"]), (404, "not_found"))
        r = self.s.request("POST", "/admin/users/%s/reactivate" % me["user"]["id"], headers=bearer(admin["token"]))
        self.assertEqual(self.s.request("GET", "/avatars/" + me["user"]["id"]).status, 200)


class StoredBeforeTheStrip(unittest.TestCase):
    def test_an_avatar_stored_as_a_polyglot_is_served_stripped(self):
        # Avatars written before the strip existed were served as stored
        # (HTML tail and text chunk included), for a day in shared caches.
        with Server() as s:
            poly_user, junk_user = s.register()["user"]["id"], s.register()["user"]["id"]
            s.stop()
            poly = png(extra=chunk(b"tEXt", b"Comment\x00" + HTML)) + HTML + SVG
            put_avatar(s, poly_user, "image/png", poly)
            put_avatar(s, junk_user, "image/png", b"\x89PNG\r\n\x1a\n" + HTML)
            s.start()
            got = s.request("GET", "/avatars/" + poly_user)
            self.assertEqual(got.status, 200, got)
            self.assertNotIn(b"<html", got.body)
            self.assertNotIn(b"<svg", got.body)
            self.assertEqual(png_pixels(got.body), ([b"IHDR", b"IDAT", b"IEND"], 2, 2))
            self.assertEqual(got.header("Cache-Control"), "public, max-age=300")
            self.assertIn("sandbox", got.header("Content-Security-Policy") or "")
            # What no longer parses as an image is not served at all.
            r = s.request("GET", "/avatars/" + junk_user)
            self.assertEqual((r.status, r.json()["error"]), (404, "not_found"))


if __name__ == "__main__":
    unittest.main()

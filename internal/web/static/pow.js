// fairslot proof-of-work solver for browsers: plain JavaScript, no build
// step, no crypto.subtle (which plain-HTTP hospital intranets do not have).
// A challenge is solved by the decimal counter n for which
// SHA-256(challenge + ":" + n) starts with `bits` zero bits.
//
//   FairslotPoW.solve(challenge, bits)        -> Promise<string>
//   FairslotPoW.fetch(url, options)           -> Promise<Response>
//     like fetch(); when the server answers 428 it gets a challenge from
//     /api/v1/challenge, solves it and sends the request once more.
(function (root) {
  "use strict";

  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  var W = new Uint32Array(64);

  // sha256 returns the digest of an ASCII string as 8 big-endian words.
  function sha256(s) {
    var n = s.length, blocks = ((n + 9 + 63) >> 6), words = new Uint32Array(blocks * 16), i;
    for (i = 0; i < n; i++) words[i >> 2] |= (s.charCodeAt(i) & 0xff) << (24 - (i & 3) * 8);
    words[n >> 2] |= 0x80 << (24 - (n & 3) * 8);
    words[blocks * 16 - 1] = n * 8;
    var h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a,
        h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
    for (var b = 0; b < blocks; b++) {
      for (i = 0; i < 16; i++) W[i] = words[b * 16 + i];
      for (i = 16; i < 64; i++) {
        var x = W[i - 15], y = W[i - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      var a = h0, bb = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (i = 0; i < 64; i++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + bb) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    return [h0 >>> 0, h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0, h5 >>> 0, h6 >>> 0, h7 >>> 0];
  }

  function zeroBits(words) {
    var n = 0;
    for (var i = 0; i < 8; i++) {
      if (words[i] !== 0) return n + Math.clz32(words[i]);
      n += 32;
    }
    return n;
  }

  // solve tries counters in order, yielding to the page every few thousand
  // so that it stays responsive.
  function solve(challenge, bits) {
    var prefix = challenge + ":", n = 0;
    return new Promise(function (resolve) {
      (function chunk() {
        for (var end = n + 4096; n < end; n++) {
          if (zeroBits(sha256(prefix + n)) >= bits) return resolve(String(n));
        }
        setTimeout(chunk, 0);
      })();
    });
  }

  function withChallenge(url, options) {
    options = options || {};
    var doFetch = root.fetch.bind(root);
    return doFetch(url, options).then(function (resp) {
      if (resp.status !== 428) return resp;
      var auth = options.headers && (options.headers.Authorization || options.headers.authorization);
      return doFetch("/api/v1/challenge", { credentials: "same-origin", headers: auth ? { Authorization: auth } : {} })
        .then(function (r) { return r.json(); })
        .then(function (ch) {
          return solve(ch.challenge, ch.bits).then(function (solution) {
            var headers = Object.assign({}, options.headers || {});
            headers["X-Fairslot-Challenge"] = ch.challenge;
            headers["X-Fairslot-Solution"] = solution;
            return doFetch(url, Object.assign({}, options, { headers: headers, credentials: "same-origin" }));
          });
        });
    });
  }

  var api = { sha256: sha256, zeroBits: zeroBits, solve: solve, fetch: withChallenge };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.FairslotPoW = api;
})(typeof self !== "undefined" ? self : this);

import { describe, expect, it } from 'vitest';
import { decrypt, encrypt, signature, signatureMatches } from './callbackCrypto';

// WeCom's own documentation example (加解密方案说明 / the official WXBizMsgCrypt samples).
const DOC = {
  token: 'QDG6eK',
  aesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  corpId: 'wx5823bf96d3bd56c7',
  msgSignature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
  timestamp: '1409659589',
  nonce: '263014780',
  echostr: 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
  plaintext: '1616140317555161061',
};

describe('WeCom-style callback crypto', () => {
  it('verifies the documented URL-verification vector and decrypts its echostr', () => {
    const sig = signature(DOC.token, DOC.timestamp, DOC.nonce, DOC.echostr);
    expect(sig).toBe(DOC.msgSignature);
    expect(signatureMatches(sig, DOC.msgSignature)).toBe(true);
    expect(decrypt(DOC.aesKey, DOC.echostr, DOC.corpId)).toBe(DOC.plaintext);
  });

  it('refuses a wrong receiveid, a flipped byte, a wrong signature', () => {
    expect(() => decrypt(DOC.aesKey, DOC.echostr, 'wwsomeoneelse')).toThrow(/receiveid/);
    const bytes = Buffer.from(DOC.echostr, 'base64');
    bytes.writeUInt8((bytes.at(-1) as number) ^ 0xff, bytes.length - 1);
    expect(() => decrypt(DOC.aesKey, bytes.toString('base64'), DOC.corpId)).toThrow();
    expect(signatureMatches(DOC.msgSignature, DOC.msgSignature.replace(/.$/, '0'))).toBe(false);
    expect(signatureMatches(DOC.msgSignature, undefined)).toBe(false);
  });

  it('round-trips any message (padding to 32-byte blocks, UTF-8 length in bytes)', () => {
    for (const msg of ['', 'a', '群发'.repeat(100), JSON.stringify({ event: 'x', n: 'y'.repeat(31) })]) {
      const enc = encrypt(DOC.aesKey, msg, DOC.corpId);
      expect(Buffer.from(enc, 'base64').length % 32).toBe(0);
      expect(decrypt(DOC.aesKey, enc, DOC.corpId)).toBe(msg);
    }
  });
});

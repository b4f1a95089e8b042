import Foundation
import Security

/// Vigil's key-encryption key on iOS: a P-256 key pair in the Secure Enclave, created by the
/// Keychain, whose private key never leaves it. The data key is wrapped with ECIES
/// (`eciesEncryptionCofactorVariableIVX963SHA256AESGCM`), and only the Secure Enclave can
/// unwrap it.
///
/// Pass it to `Vigil.open(path:config:keyStore:)`. If the key is gone (a device restore or
/// a reset), `open` throws `VigilError.Locked` and the store cannot be read.
public final class KeychainKeyStore: KeyStore, @unchecked Sendable {
    private let tag: Data
    private let algorithm = SecKeyAlgorithm.eciesEncryptionCofactorVariableIVX963SHA256AESGCM

    public init(tag: String = "org.vigil.kek") {
        self.tag = Data(tag.utf8)
    }

    public func keyId() -> String {
        String(decoding: tag, as: UTF8.self)
    }

    public func wrapDataKey(dataKey: Data) throws -> Data {
        let privateKey = try existingKey() ?? createKey()
        guard let publicKey = SecKeyCopyPublicKey(privateKey) else {
            throw KeyStoreError.Rejected(detail: "the Secure Enclave key has no public key")
        }
        var error: Unmanaged<CFError>?
        guard let wrapped = SecKeyCreateEncryptedData(publicKey, algorithm, dataKey as CFData, &error) else {
            throw KeyStoreError.Rejected(detail: "wrapping failed: \(describe(error))")
        }
        return wrapped as Data
    }

    public func unwrapDataKey(wrapped: Data) throws -> Data {
        guard let privateKey = try existingKey() else {
            throw KeyStoreError.Rejected(detail: "no Secure Enclave key tagged \(keyId())")
        }
        var error: Unmanaged<CFError>?
        guard let dataKey = SecKeyCreateDecryptedData(privateKey, algorithm, wrapped as CFData, &error) else {
            throw KeyStoreError.Rejected(detail: "unwrapping failed: \(describe(error))")
        }
        return dataKey as Data
    }

    private func existingKey() throws -> SecKey? {
        let query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: tag,
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecReturnRef as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecItemNotFound {
            return nil
        }
        guard status == errSecSuccess, let item else {
            throw KeyStoreError.Rejected(detail: "Keychain lookup failed with status \(status)")
        }
        return (item as! SecKey)
    }

    private func createKey() throws -> SecKey {
        // The key is usable after the first unlock since boot, so that a background
        // launch (a geofence or a scheduled sync) can open the store while the phone is
        // locked, and it never migrates to another device through a backup.
        var accessError: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, .privateKeyUsage, &accessError
        ) else {
            throw KeyStoreError.Rejected(detail: "access control failed: \(describe(accessError))")
        }
        let attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: tag,
                kSecAttrAccessControl as String: access,
            ],
        ]
        var error: Unmanaged<CFError>?
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw KeyStoreError.Rejected(detail: "creating the key failed: \(describe(error))")
        }
        return key
    }

    private func describe(_ error: Unmanaged<CFError>?) -> String {
        guard let error else { return "unknown error" }
        return (error.takeRetainedValue() as Error).localizedDescription
    }
}

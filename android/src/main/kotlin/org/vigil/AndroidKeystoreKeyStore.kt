package org.vigil

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import uniffi.vigil_ffi.KeyStore
import uniffi.vigil_ffi.KeyStoreException

/**
 * Vigil's key-encryption key in the Android Keystore: an AES-256-GCM key that never leaves
 * the Keystore (or its StrongBox / TEE). Vigil hands it the store's data key to wrap once,
 * and the wrapped bytes to unwrap at every open.
 *
 * Pass it to `Vigil.open(path, config, AndroidKeystoreKeyStore())`. If the key is deleted
 * or invalidated, `open` fails with `VigilException.Locked` and the store cannot be read.
 */
class AndroidKeystoreKeyStore(private val alias: String = "vigil-kek") : KeyStore {
    private val keystore = java.security.KeyStore.getInstance(PROVIDER).apply { load(null) }

    override fun keyId(): String = alias

    override fun wrapDataKey(dataKey: ByteArray): ByteArray {
        val key = existingKey() ?: createKey()
        return try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            // The Keystore draws the IV itself: it rejects one chosen by the caller.
            cipher.init(Cipher.ENCRYPT_MODE, key)
            cipher.iv + cipher.doFinal(dataKey)
        } catch (error: java.security.GeneralSecurityException) {
            throw KeyStoreException.Rejected("the Keystore failed to wrap: ${error.javaClass.simpleName}")
        } finally {
            dataKey.fill(0)
        }
    }

    override fun unwrapDataKey(wrapped: ByteArray): ByteArray {
        val key = existingKey() ?: throw KeyStoreException.Rejected("no Keystore key named $alias")
        if (wrapped.size <= IV_BYTES) throw KeyStoreException.Rejected("the wrapped key is truncated")
        return try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(128, wrapped, 0, IV_BYTES))
            cipher.doFinal(wrapped, IV_BYTES, wrapped.size - IV_BYTES)
        } catch (error: java.security.GeneralSecurityException) {
            throw KeyStoreException.Rejected("the Keystore failed to unwrap: ${error.javaClass.simpleName}")
        }
    }

    private fun existingKey(): SecretKey? = keystore.getKey(alias, null) as? SecretKey

    private fun createKey(): SecretKey {
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
        val spec = KeyGenParameterSpec.Builder(
            alias,
            KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT,
        )
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .build()
        generator.init(spec)
        return generator.generateKey()
    }

    private companion object {
        const val PROVIDER = "AndroidKeyStore"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_BYTES = 12
    }
}

import java.io.File
import java.nio.file.Files
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.KeyStore
import uniffi.vigil_ffi.KeyStoreException
import uniffi.vigil_ffi.Severity
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException
import uniffi.vigil_ffi.passphraseKeyStore

/**
 * A key store in the JVM's own crypto, standing in for the Android Keystore: the key never
 * leaves this object, and Vigil only hands it the data key to wrap and unwrap.
 */
class JceKeyStore(private val key: SecretKey, private val alias: String) : KeyStore {
    var rejecting = false

    override fun keyId(): String = alias

    override fun wrapDataKey(dataKey: ByteArray): ByteArray {
        if (rejecting) throw KeyStoreException.Rejected("the key was invalidated")
        val iv = ByteArray(12).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.ENCRYPT_MODE, key, GCMParameterSpec(128, iv))
        return iv + cipher.doFinal(dataKey)
    }

    override fun unwrapDataKey(wrapped: ByteArray): ByteArray {
        if (rejecting) throw KeyStoreException.Rejected("the key was invalidated")
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(128, wrapped.copyOfRange(0, 12)))
        return try {
            cipher.doFinal(wrapped.copyOfRange(12, wrapped.size))
        } catch (error: javax.crypto.AEADBadTagException) {
            throw KeyStoreException.Rejected("the wrapped key is not this key's")
        }
    }
}

/**
 * The store is encrypted under a key-encryption key from the app: a wrong key locks it
 * without changing it, and rotation moves it to a new key.
 */
class EncryptionAtRestTest {
    private lateinit var folder: File

    @Before
    fun createFolder() {
        folder = Files.createTempDirectory("vigil-at-rest").toFile()
    }

    @After
    fun deleteFolder() {
        folder.deleteRecursively()
    }

    private val config = VigilConfig(
        deviceId = "kotlin-at-rest",
        guardId = "kotlin-guard",
        serverUrl = "http://127.0.0.1:9",
        enrollmentCode = "code",
    )

    private fun open(keyStore: KeyStore): Vigil =
        Vigil.open(File(folder, "device.db").path, config, keyStore)

    private fun contains(file: File, text: String): Boolean {
        if (!file.exists()) return false
        val bytes = file.readBytes()
        val needle = text.toByteArray()
        return (0..bytes.size - needle.size).any { start ->
            needle.indices.all { bytes[start + it] == needle[it] }
        }
    }

    @Test
    fun passphraseStoreLocksAndRotates() = runBlocking {
        val device = open(passphraseKeyStore("first passphrase"))
        device.logIncident("fence", Severity.HIGH, "Ladder against the north fence")
        device.close()
        val database = File(folder, "device.db")
        assertFalse(contains(database, "Ladder against"), "the incident text is encrypted")

        val before = database.readBytes()
        assertFailsWith<VigilException.Locked> { open(passphraseKeyStore("wrong passphrase")) }
        assertEquals(before.toList(), database.readBytes().toList(), "a locked open changes nothing")

        val reopened = open(passphraseKeyStore("first passphrase"))
        assertEquals(1uL, reopened.pending().captured)
        reopened.rotateKey(passphraseKeyStore("second passphrase"))
        reopened.close()

        assertFailsWith<VigilException.Locked> { open(passphraseKeyStore("first passphrase")) }
        val rotated = open(passphraseKeyStore("second passphrase"))
        assertEquals(1uL, rotated.pending().captured)
        rotated.close()
    }

    @Test
    fun platformKeyStoreWrapsTheDataKey() = runBlocking {
        val generator = KeyGenerator.getInstance("AES").apply { init(256) }
        val platform = JceKeyStore(generator.generateKey(), "vigil-kek")

        val device = open(platform)
        device.logIncident("door", Severity.LOW, "Side door open")
        device.close()

        val other = JceKeyStore(generator.generateKey(), "vigil-kek")
        assertFailsWith<VigilException.Locked> { open(other) }
        platform.rejecting = true
        assertFailsWith<VigilException.Locked> { open(platform) }

        platform.rejecting = false
        val reopened = open(platform)
        assertEquals(1uL, reopened.pending().captured)
        assertEquals(0uL, reopened.purgeExpiredRecords(), "nothing acknowledged, nothing purged")
        reopened.close()
    }
}

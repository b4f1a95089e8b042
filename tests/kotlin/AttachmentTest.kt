import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.random.Random
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.AttachmentFile
import uniffi.vigil_ffi.AttachmentUploadState
import uniffi.vigil_ffi.RecordSyncState
import uniffi.vigil_ffi.Severity
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException

/**
 * Attaches a photo to an incident through the generated Kotlin API, uploads it to a
 * `vigil serve` process on loopback, and reads it back.
 */
class AttachmentTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var serverUrl = ""

    @Before
    fun startServer() {
        folder = Files.createTempDirectory("vigil-kotlin-attachment").toFile()
        val port = freeLoopbackPort()
        serverUrl = "http://127.0.0.1:$port"
        server = startVigilServe(folder, port, CODE)
    }

    @After
    fun stopServer() {
        server?.destroy()
        server?.waitFor(10, TimeUnit.SECONDS)
        folder.deleteRecursively()
    }

    private fun openDevice(): Vigil =
        Vigil.open(
            File(folder, "device.db").path,
            VigilConfig(
                deviceId = "kotlin-attachment",
                guardId = "kotlin-guard",
                serverUrl = serverUrl,
                enrollmentCode = CODE,
                syncAttempts = 2u,
                retryBaseDelayMs = 20uL,
                requestTimeoutMs = 3000uL,
            ),
        )

    @Test
    fun photoIsAttachedAndUploaded() = runBlocking {
        val device = openDevice()
        val photo = File(folder, "photo.jpg")
        val bytes = Random(7).nextBytes(1_500_000)
        photo.writeBytes(bytes)

        val incident = device.logIncidentWithAttachments(
            "intrusion",
            Severity.HIGH,
            "Fence cut near gate 3",
            listOf(AttachmentFile(photo.path, "image/jpeg")),
        )
        assertEquals(1, incident.attachments.size)
        val attachment = incident.attachments[0]
        assertEquals(1_500_000uL, attachment.sizeBytes)
        assertEquals("image/jpeg", attachment.mediaType)
        assertEquals(64, attachment.digest.length)
        assertEquals(AttachmentUploadState.PENDING, device.attachmentState(attachment.id))

        device.syncNow()
        assertEquals(AttachmentUploadState.UPLOADED, device.attachmentState(attachment.id))
        assertEquals(RecordSyncState.ACKNOWLEDGED, device.recordState(incident.recordId))

        val copy = File(folder, "copy.jpg")
        device.exportAttachment(attachment.id, copy.path)
        assertContentEquals(bytes, copy.readBytes())

        val error = assertFailsWith<VigilException.InvalidInput> {
            device.logIncidentWithAttachments(
                "intrusion",
                Severity.LOW,
                "Gate open",
                listOf(AttachmentFile(photo.path, "jpeg")),
            )
        }
        assertEquals("media_type", error.field)
        device.close()
    }

    private companion object {
        const val CODE = "kotlin-attachment-code"
    }
}

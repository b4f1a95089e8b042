import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.Severity
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig

/** Sync with a time budget and after a network-change hint, against `vigil serve`. */
class SyncScheduleTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var serverUrl = ""

    @Before
    fun startServer() {
        folder = Files.createTempDirectory("vigil-schedule").toFile()
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

    private fun openDevice(): Vigil = Vigil.open(
        File(folder, "device.db").path,
        VigilConfig(
            deviceId = "kotlin-schedule",
            guardId = "kotlin-guard",
            serverUrl = serverUrl,
            enrollmentCode = CODE,
            retryBaseDelayMs = 20uL,
            requestTimeoutMs = 3000uL,
        ),
    )

    @Test
    fun budgetedSyncStopsThenFinishes() = runBlocking {
        val device = openDevice()
        device.logIncident("door", Severity.LOW, "Open")

        val none = device.syncWithin(0uL)
        assertEquals(0uL, none.acknowledged, "a zero budget sends nothing")
        assertEquals(1uL, none.counts.pending)

        val all = device.syncWithin(60_000uL)
        assertEquals(1uL, all.acknowledged)
        assertEquals(0uL, all.counts.pending)
        device.close()
    }

    @Test
    fun networkChangeStartsSync() = runBlocking {
        val device = openDevice()
        device.logIncident("door", Severity.LOW, "Open")

        device.networkChanged()
        withTimeout(10_000) {
            while (device.pending().pending > 0uL) delay(50)
        }
        assertEquals(1uL, device.pending().synced)
        device.close()
    }

    @Test
    fun syncMeasuresClockOffset() = runBlocking {
        val device = openDevice()
        val recordId = device.logIncident("door", Severity.LOW, "Open")
        assertNull(device.clockOffset(), "no exchange yet")
        assertNull(device.correctedTime(recordId).correctedMs)

        device.syncNow()

        val offset = assertNotNull(device.clockOffset())
        assertTrue(kotlin.math.abs(offset.offsetMs) < 5_000, "offset ${offset.offsetMs}")
        val time = device.correctedTime(recordId)
        assertNotNull(time.correctedMs)
        assertTrue(kotlin.math.abs(time.correctedMs!! - time.claimedMs) < 5_000, "$time")
        device.close()
    }

    companion object {
        const val CODE = "kotlin-schedule-code"
    }
}

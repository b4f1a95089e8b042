import java.io.File
import java.net.ServerSocket
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Before
import org.junit.Test
import uniffi.vigil_ffi.Fix
import uniffi.vigil_ffi.FixOutcome
import uniffi.vigil_ffi.FixSource
import uniffi.vigil_ffi.RecordSyncState
import uniffi.vigil_ffi.ScanMethod
import uniffi.vigil_ffi.Severity
import uniffi.vigil_ffi.Vigil
import uniffi.vigil_ffi.VigilConfig
import uniffi.vigil_ffi.VigilException
import uniffi.vigil_ffi.checkinReasonText

/**
 * Exercises the generated Kotlin API against the host-built library and a `vigil serve`
 * process on loopback, as an Android app would use it.
 */
class VigilDeviceTest {
    private lateinit var folder: File
    private var server: Process? = null
    private var serverUrl = ""

    @Before
    fun startServer() {
        folder = Files.createTempDirectory("vigil-kotlin").toFile()
        val port = freeLoopbackPort()
        serverUrl = "http://127.0.0.1:$port"
        server = startVigilServe(folder, port, ENROLLMENT_CODE)
    }

    @After
    fun stopServer() {
        server?.destroy()
        server?.waitFor(10, TimeUnit.SECONDS)
        folder.deleteRecursively()
    }


    private fun openDevice(url: String = serverUrl, name: String = "device.db"): Vigil =
        Vigil.open(
            File(folder, name).path,
            VigilConfig(
                deviceId = "kotlin-device",
                guardId = "kotlin-guard",
                serverUrl = url,
                enrollmentCode = ENROLLMENT_CODE,
                syncAttempts = 2u,
                retryBaseDelayMs = 20uL,
                requestTimeoutMs = 3000uL,
            ),
        )

    private fun fix(metresNorth: Double, timeMs: Long, latitude: Double = 45.5) = Fix(
        latitude = latitude + metresNorth / 111_195.0,
        longitude = -73.56,
        accuracyM = 5.0,
        altitudeM = 30.0,
        speedMps = 1.4,
        bearingDeg = 0.0,
        source = FixSource.FUSED,
        mock = false,
        fixTimeMs = timeMs,
    )

    @Test
    fun shiftIsCapturedAndSynced() = runBlocking {
        val device = openDevice()
        val shiftId = device.startShift(null)
        assertTrue(shiftId.isNotEmpty())

        val now = System.currentTimeMillis()
        val outcomes = device.recordFixes((0 until 30).map { fix(it * 1.4, now - 30_000 + it * 1000L) })
        assertEquals(30, outcomes.size)
        // Walking at 1.4 m/s, a fix is stored every 4 s (5.6 m) at the default rate of 5 m.
        assertEquals(8, outcomes.count { it is FixOutcome.Stored })
        assertEquals(22, outcomes.count { it is FixOutcome.Skipped })

        device.logIncident("intrusion", Severity.HIGH, "Fence cut near gate 3")
        val panic = device.raisePanic()
        assertNotNull(panic.deliveredAtMs, "the panic must reach the server at once")
        device.endShift()

        val before = device.pending()
        assertTrue(before.pending > 0u)
        val summary = device.syncNow()
        assertEquals(0uL, summary.counts.pending)
        assertEquals(before.captured, summary.counts.synced)
        assertEquals(RecordSyncState.ACKNOWLEDGED, device.recordState(panic.recordId))

        val report = device.shiftReport()
        assertEquals(shiftId, report.shiftId)
        assertEquals(8uL, report.fixes)
        assertEquals(1uL, report.incidents)
        assertEquals(0uL, report.pending)
        assertTrue(report.distanceM > 35.0 && report.distanceM < 45.0, "distance ${report.distanceM}")
        device.close()
    }

    @Test
    fun storageRateIsConfigurable() = runBlocking {
        val config = VigilConfig(
            deviceId = "kotlin-device",
            guardId = "kotlin-guard",
            serverUrl = serverUrl,
            enrollmentCode = ENROLLMENT_CODE,
            storageMinDistanceM = 0.0,
        )
        val everyFix = Vigil.open(File(folder, "every-fix.db").path, config)
        val now = System.currentTimeMillis()
        val outcomes = everyFix.recordFixes((0 until 10).map { fix(it * 1.4, now - 10_000 + it * 1000L) })
        outcomes.forEach { assertIs<FixOutcome.Stored>(it) }
        everyFix.close()

        val error = assertFailsWith<VigilException.InvalidInput> {
            Vigil.open(File(folder, "bad-rate.db").path, config.copy(storageMinHeadingChangeDeg = 0.0))
        }
        assertEquals("storage_rate.min_heading_change_deg", error.field)
    }

    @Test
    fun invalidInputIsAnErrorNotACrash() = runBlocking {
        val device = openDevice()
        val error = assertFailsWith<VigilException.InvalidInput> {
            device.logIncident("intrusion", Severity.LOW, "   ")
        }
        assertEquals("incident.text", error.field)

        val outcomes = device.recordFixes(listOf(fix(0.0, 1L).copy(latitude = Double.NaN)))
        val rejected = assertIs<FixOutcome.Rejected>(outcomes.single())
        assertEquals("latitude", rejected.field)

        assertFailsWith<VigilException.InvalidState> { device.endShift() }
        assertFailsWith<VigilException.NotFound> { device.startShift("no-such-site") }
        assertFailsWith<VigilException.InvalidInput> { device.recordState("not-a-uuid") }
        val weak = assertFailsWith<VigilException.InvalidInput> { device.scanBeacon("beacon-1", -300) }
        assertEquals("rssi_dbm", weak.field)
        assertEquals(0uL, device.pending().captured, "nothing invalid may be stored")
        device.close()
    }

    @Test
    fun refusedScanCarriesCodeAndWording() = runBlocking {
        val device = openDevice()
        val checkIn = device.scanCheckpoint(ScanMethod.QR, "tag-that-does-not-exist")
        assertEquals(false, checkIn.accepted)
        assertNull(checkIn.checkpointId)
        val reason = checkIn.reasons.single()
        assertEquals("unknown_tag", reason.code)

        val english = checkinReasonText(reason, "en")
        val spanish = checkinReasonText(reason, "es-MX")
        val portuguese = checkinReasonText(reason, "pt-BR")
        assertTrue(english.contains("checkpoint"), english)
        assertTrue(spanish.contains("punto de control"), spanish)
        assertTrue(portuguese.contains("ponto de controle"), portuguese)
        device.close()
    }

    @Test
    fun offlineCaptureIsKeptUntilServerReturns() = runBlocking {
        val deadPort = ServerSocket(0).use { it.localPort }
        val offline = openDevice(url = "http://127.0.0.1:$deadPort", name = "offline.db")
        val incidentId = offline.logIncident("fire", Severity.CRITICAL, "Smoke in stairwell B")
        val panic = offline.raisePanic()
        assertNull(panic.deliveredAtMs)
        assertFailsWith<VigilException.Offline> { offline.syncNow() }
        assertEquals(RecordSyncState.STORED, offline.recordState(incidentId))
        assertEquals(1uL, offline.pending().pendingPanics)
        offline.close()

        // The same store reopened with the live server delivers everything once.
        val online = openDevice(name = "offline.db")
        val summary = online.syncNow()
        // The alert lane, started by open, may deliver the panic before syncNow does.
        assertEquals(0uL, summary.counts.pending)
        assertEquals(RecordSyncState.ACKNOWLEDGED, online.recordState(panic.recordId))
        assertEquals(RecordSyncState.ACKNOWLEDGED, online.recordState(incidentId))
        online.close()
    }

    @Test
    fun concurrentCapturesAreAllStored() = runBlocking {
        val device = openDevice()
        val ids = (0 until 50).map { index ->
            async { device.logIncident("patrol", Severity.LOW, "Note $index") }
        }.awaitAll()
        assertEquals(50, ids.toSet().size)
        assertEquals(50uL, device.pending().captured)
        device.close()
    }

    private companion object {
        const val ENROLLMENT_CODE = "kotlin-test-code"
    }
}
